-- duplicate_invoice: two distinct invoices from the same supplier with the same invoice number, or
-- with the same amount and invoice date: the classic AP double-payment risk.
--
-- Checked for the invoices changed in the window(s), against every known invoice of the same
-- suppliers (their latest versions); canceled invoices are left out. Identity: the pair and the
-- reason, so a pair is reported once whichever of the two arrives last.
WITH changed AS (
    SELECT DISTINCT supplier_id FROM raw.supplier_invoices
    WHERE window_start BETWEEN $window_first AND $window_last
),
current AS (
    SELECT i.* FROM raw.supplier_invoices i SEMI JOIN changed c ON c.supplier_id = i.supplier_id
    WHERE i.window_start <= $window_last
    QUALIFY row_number() OVER (PARTITION BY i.wid ORDER BY i.window_start DESC, i.updated_at DESC NULLS LAST) = 1
),
live AS (SELECT * FROM current WHERE coalesce(approval_status, '') NOT IN ('CANCELED', 'CANCELLED')),
touched AS (
    SELECT DISTINCT wid FROM raw.supplier_invoices WHERE window_start BETWEEN $window_first AND $window_last
),
pairs AS (
    SELECT a.*, b.invoice_id AS other_id, b.invoice_number AS other_number, b.wid AS other_wid,
           CASE WHEN a.invoice_number = b.invoice_number THEN 'same_number' ELSE 'same_amount_and_date' END
               AS reason
    FROM live a JOIN live b
      ON a.supplier_id = b.supplier_id AND a.invoice_id < b.invoice_id
     AND (a.invoice_number = b.invoice_number OR (a.amount = b.amount AND a.invoice_date = b.invoice_date))
    WHERE a.wid IN (SELECT wid FROM touched) OR b.wid IN (SELECT wid FROM touched)
)
SELECT
    wid || '|' || other_wid || '|' || reason                        AS alert_key,
    'supplier_invoices'                                              AS entity,
    wid                                                              AS entity_wid,
    invoice_id                                                       AS entity_id,
    company_id,
    supplier_id,
    currency,
    amount,
    NULL::INTEGER                                                    AS level,
    to_json({
        'invoice_id': invoice_id,
        'invoice_number': invoice_number,
        'duplicate_of': other_id,
        'duplicate_number': other_number,
        'reason': reason,
        'amount': CAST(amount AS VARCHAR),
        'currency': currency,
        'supplier_id': supplier_id,
        'supplier_name': supplier_name,
        'company_id': company_id,
        'invoice_date': CAST(invoice_date AS VARCHAR),
        'due_date': CAST(due_date AS VARCHAR),
        'approval_status': approval_status
    })                                                               AS details
FROM pairs
ORDER BY invoice_id, other_id
