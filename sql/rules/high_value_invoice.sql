-- high_value_invoice: a supplier invoice at or above a subscription's min_amount, in its own currency.
--
-- Input: the invoices polled in the window(s) [$window_first, $window_last], each as of its window's end.
-- $min_amount is the lowest threshold of any subscription to this rule; each subscription's own
-- threshold (and company/supplier filters) is applied when the alert is routed.
-- Identity (alert_key): the invoice and its amount. Re-running or replaying the window gives the same
-- key; an approval or payment-status change keeps it (the alert is the same); an amount correction
-- makes a new alert, since a reader of the first one was told a different figure.
SELECT
    i.wid || '|' || i.currency || '|' || CAST(i.amount AS VARCHAR)  AS alert_key,
    'supplier_invoices'                                              AS entity,
    i.wid                                                            AS entity_wid,
    i.invoice_id                                                     AS entity_id,
    i.company_id,
    i.supplier_id,
    i.currency,
    i.amount,
    NULL::INTEGER                                                    AS level,
    to_json({
        'invoice_id': i.invoice_id,
        'invoice_number': i.invoice_number,
        'amount': CAST(i.amount AS VARCHAR),
        'currency': i.currency,
        'supplier_id': i.supplier_id,
        'supplier_name': i.supplier_name,
        'company_id': i.company_id,
        'invoice_date': CAST(i.invoice_date AS VARCHAR),
        'due_date': CAST(i.due_date AS VARCHAR),
        'approval_status': i.approval_status,
        'payment_status': i.payment_status,
        'on_hold': i.on_hold,
        'gl_accounts': (
            -- Invoice lines carry no ledger account in Workday's data: their spend categories.
            SELECT string_agg(DISTINCT coalesce(l.spend_category, l.spend_category_id), ', '
                              ORDER BY coalesce(l.spend_category, l.spend_category_id))
            FROM raw.supplier_invoice_lines l
            WHERE l.parent_wid = i.wid AND l.window_start = i.window_start
        ),
        'updated_at': CAST(i.updated_at AS VARCHAR)
    })                                                               AS details
FROM raw.supplier_invoices i
WHERE i.window_start BETWEEN $window_first AND $window_last
  AND i.amount >= $min_amount
QUALIFY row_number() OVER (PARTITION BY i.wid, i.amount ORDER BY i.window_start DESC) = 1
ORDER BY i.invoice_id
