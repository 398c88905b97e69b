-- invoice_status_change: an invoice approved, or put on hold, since its previous snapshot (from the
-- window's diffs). A record seen for the first time is new, not a transition, and is not reported.
-- Identity: the invoice, the field and the transition, with the time of the version that made it
-- (its updated_at where an older row has one; an invoice's data has none now: its window's start).
SELECT
    d.wid || '|' || d.field || '|' || coalesce(d.before, '') || '>' || coalesce(d.after, '') || '|'
        || coalesce(CAST(i.updated_at AS VARCHAR), CAST(d.window_start AS VARCHAR))   AS alert_key,
    'supplier_invoices'                                              AS entity,
    d.wid                                                            AS entity_wid,
    i.invoice_id                                                     AS entity_id,
    i.company_id,
    i.supplier_id,
    i.currency,
    i.amount,
    NULL::INTEGER                                                    AS level,
    to_json({
        'invoice_id': i.invoice_id,
        'invoice_number': i.invoice_number,
        'change': CASE WHEN d.field = 'on_hold' THEN 'put on hold' ELSE lower(d.after) END,
        'field': d.field,
        'before': d.before,
        'after': d.after,
        'amount': CAST(i.amount AS VARCHAR),
        'currency': i.currency,
        'supplier_id': i.supplier_id,
        'supplier_name': i.supplier_name,
        'company_id': i.company_id,
        'due_date': CAST(i.due_date AS VARCHAR),
        'approval_status': i.approval_status,
        'payment_status': i.payment_status
    })                                                               AS details
FROM diffs.changes d
JOIN raw.supplier_invoices i ON i.wid = d.wid AND i.window_start = d.window_start
WHERE d.entity = 'supplier_invoices'
  AND d.window_start BETWEEN $window_first AND $window_last
  AND ((d.field = 'approval_status' AND d.after = 'APPROVED') OR (d.field = 'on_hold' AND d.after = 'true'))
ORDER BY i.invoice_id
