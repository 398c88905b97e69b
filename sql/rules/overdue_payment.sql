-- overdue_payment: a supplier invoice whose due date has passed by at least min_days_overdue and
-- that is not fully paid, judged from the invoice's payment status and from the remittance lines of
-- the completed payments that pay it (payment data can arrive before the invoice's status moves).
--
-- Candidates: invoices that changed in the window(s), plus, in the first window of each UTC day
-- ($sweep), every known invoice not marked paid whose due date is far enough behind: an invoice
-- becomes overdue by the calendar, not by changing. Only candidates' own history is read.
-- Identity (alert_key): the invoice and its due date: one alert per overdue invoice, however many days
-- it stays overdue; a new due date makes a new alert. `level` is the days overdue on $as_of_date, so a
-- subscription with a larger min_days_overdue is routed the same alert once the invoice gets there.
WITH candidates AS (
    SELECT wid FROM raw.supplier_invoices WHERE window_start BETWEEN $window_first AND $window_last
    UNION
    -- Outside the sweep the bound is day one, so DuckDB's zone maps skip every row group unread.
    SELECT wid FROM raw.supplier_invoices
    WHERE due_date <= CASE WHEN $sweep THEN $as_of_date - $min_days ELSE DATE '0001-01-01' END
      AND window_start <= $window_last AND coalesce(payment_status, '') <> 'PAID'
),
current AS (
    SELECT i.* FROM raw.supplier_invoices i SEMI JOIN candidates c ON c.wid = i.wid
    WHERE i.window_start <= $window_last
    QUALIFY row_number() OVER (PARTITION BY i.wid ORDER BY i.window_start DESC, i.updated_at DESC NULLS LAST) = 1
),
remitted AS (
    SELECT r.parent_wid AS payment_wid, r.window_start, r.invoice_id,
           r.amount_paid + coalesce(r.discount_taken, 0) AS amount_settled  -- an early-payment discount settles too
    FROM raw.payment_remittances r SEMI JOIN current c ON c.invoice_id = r.invoice_id
    WHERE r.window_start <= $window_last
),
payment_versions AS (  -- each paying payment's latest version, and whether it is complete
    SELECT p.wid, p.window_start, p.status FROM raw.payments p
    SEMI JOIN remitted r ON r.payment_wid = p.wid
    WHERE p.window_start <= $window_last
    QUALIFY row_number() OVER (PARTITION BY p.wid ORDER BY p.window_start DESC) = 1
),
paid AS (
    SELECT r.invoice_id, sum(r.amount_settled) AS amount_paid
    FROM remitted r JOIN payment_versions p ON p.wid = r.payment_wid AND p.window_start = r.window_start
    WHERE p.status = 'Complete'
    GROUP BY r.invoice_id
)
SELECT
    c.wid || '|' || CAST(c.due_date AS VARCHAR)                    AS alert_key,
    'supplier_invoices'                                             AS entity,
    c.wid                                                           AS entity_wid,
    c.invoice_id                                                    AS entity_id,
    c.company_id,
    c.supplier_id,
    c.currency,
    c.amount - coalesce(paid.amount_paid, 0)                        AS amount,
    CAST($as_of_date - c.due_date AS INTEGER)                       AS level,
    to_json({
        'invoice_id': c.invoice_id,
        'invoice_number': c.invoice_number,
        'amount': CAST(c.amount AS VARCHAR),
        'outstanding': CAST(c.amount - coalesce(paid.amount_paid, 0) AS VARCHAR),
        'amount_paid': CAST(coalesce(paid.amount_paid, 0) AS VARCHAR),
        'currency': c.currency,
        'supplier_id': c.supplier_id,
        'supplier_name': c.supplier_name,
        'company_id': c.company_id,
        'invoice_date': CAST(c.invoice_date AS VARCHAR),
        'due_date': CAST(c.due_date AS VARCHAR),
        'days_overdue': CAST($as_of_date - c.due_date AS INTEGER),
        'approval_status': c.approval_status,
        'payment_status': c.payment_status
    })                                                              AS details
FROM current c LEFT JOIN paid ON paid.invoice_id = c.invoice_id
WHERE c.due_date IS NOT NULL
  AND $as_of_date - c.due_date >= $min_days
  AND coalesce(c.payment_status, '') <> 'PAID'
  AND coalesce(c.approval_status, '') NOT IN ('CANCELED', 'CANCELLED')
  AND coalesce(paid.amount_paid, 0) < c.amount
ORDER BY c.invoice_id
