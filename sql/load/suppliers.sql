-- suppliers: reference data loads daily, invoices hourly, so an invoice naming no payment terms of
-- its own may have loaded before its supplier (and so its supplier's terms) was known, and has no due
-- date. Each suppliers window fills the due date of every invoice row still without one that can now
-- be resolved, the way supplier_invoices.sql resolves it (invoice_due_dates in macros.sql).
UPDATE raw.supplier_invoices AS i
SET due_date = d.due_date, due_date_source = d.due_date_source
FROM invoice_due_dates(NULL, true) AS d
WHERE i.wid = d.wid AND i.window_start = d.window_start AND i.due_date IS NULL AND d.due_date IS NOT NULL;
