-- How one invoice changed: every snapshot the poller took of it (raw history), then the field-level
-- changes between snapshots. Replace the invoice id.
SELECT window_start, approval_status, payment_status, amount, due_date, on_hold, updated_at
FROM raw.supplier_invoices WHERE invoice_id = 'SI-000123' ORDER BY window_start;

SELECT c.window_start, c.kind, c.field, c.before, c.after
FROM analytics.changes c WHERE c.entity = 'supplier_invoices' AND c.record_id = 'SI-000123'
ORDER BY c.window_start, c.field;
