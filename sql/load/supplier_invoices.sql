-- supplier_invoices: the fields of the window's invoices that Workday does not send, filled in the
-- window's load transaction.
--   due_date, due_date_source   decision 6: override, else the invoice's or its supplier's payment
--                               terms (invoice_due_dates in macros.sql); NULL until those are known,
--                               then filled by suppliers.sql / payment_terms.sql.
--   payment_status              no invoice element says whether it is paid; the completed payments
--                               known as of this window do: each payment's latest version loaded at or
--                               before $window_start, when Complete, pays what its remittance lines of
--                               that same version give the invoice, discounts taken included (by
--                               invoice_id, as overdue_payment.sql reads them). Paid >= amount: PAID; > 0: PARTIALLY_PAID; else UNPAID.
--                               Bounded by the window so that re-loading it later gives the same status.
WITH remitted AS (
    SELECT r.parent_wid AS payment_wid, r.window_start, r.invoice_id,
           r.amount_paid + coalesce(r.discount_taken, 0) AS amount_settled  -- an early-payment discount settles too
    FROM raw.payment_remittances r
    SEMI JOIN (SELECT invoice_id FROM raw.supplier_invoices WHERE window_start = $window_start) w
        ON w.invoice_id = r.invoice_id
    WHERE r.window_start <= $window_start
),
payment_versions AS (
    SELECT p.wid, p.window_start, p.status FROM raw.payments p
    SEMI JOIN remitted r ON r.payment_wid = p.wid
    WHERE p.window_start <= $window_start
    QUALIFY row_number() OVER (PARTITION BY p.wid ORDER BY p.window_start DESC) = 1
),
paid AS (
    SELECT r.invoice_id, sum(r.amount_settled) AS amount_paid
    FROM remitted r JOIN payment_versions p ON p.wid = r.payment_wid AND p.window_start = r.window_start
    WHERE p.status = 'Complete'
    GROUP BY r.invoice_id
),
derived AS (
    SELECT d.wid, d.due_date, d.due_date_source, paid.amount_paid
    FROM invoice_due_dates($window_start, false) d LEFT JOIN paid ON paid.invoice_id = d.invoice_id
)
UPDATE raw.supplier_invoices AS i
SET due_date = d.due_date,
    due_date_source = d.due_date_source,
    payment_status = CASE WHEN d.amount_paid >= i.amount THEN 'PAID'
                          WHEN d.amount_paid > 0 THEN 'PARTIALLY_PAID'
                          ELSE 'UNPAID' END
FROM derived d
WHERE i.window_start = $window_start AND i.wid = d.wid;
