-- AP aging: open supplier invoices by company, currency and days past due, as of today (UTC).
-- Open = not PAID, and the outstanding amount subtracts what completed payments remitted against it.
WITH paid AS (
    SELECT r.invoice_id, sum(r.amount_paid) AS amount_paid
    FROM analytics.payment_remittances r
    JOIN analytics.payments p ON p.wid = r.parent_wid
    WHERE p.status = 'Complete'
    GROUP BY r.invoice_id
),
open_invoices AS (
    SELECT i.company_id, i.currency, i.due_date, i.amount - coalesce(paid.amount_paid, 0) AS outstanding
    FROM analytics.supplier_invoices i LEFT JOIN paid USING (invoice_id)
    WHERE coalesce(i.payment_status, '') <> 'PAID' AND coalesce(i.approval_status, '') <> 'CANCELED'
)
SELECT company_id, currency,
       sum(outstanding) FILTER (WHERE due_date >= current_date)                                  AS not_yet_due,
       sum(outstanding) FILTER (WHERE current_date - due_date BETWEEN 1 AND 30)                   AS days_1_30,
       sum(outstanding) FILTER (WHERE current_date - due_date BETWEEN 31 AND 60)                  AS days_31_60,
       sum(outstanding) FILTER (WHERE current_date - due_date BETWEEN 61 AND 90)                  AS days_61_90,
       sum(outstanding) FILTER (WHERE current_date - due_date > 90)                               AS over_90,
       sum(outstanding)                                                                           AS total
FROM open_invoices
GROUP BY ALL
ORDER BY company_id, currency;
