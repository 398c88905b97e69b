-- payment_run: one summary per settlement (payment) run once every payment of it is Complete: the
-- number of payments, totals per company and currency, and the largest payees.
--
-- Evaluated for the runs that had a payment change in the window(s). Identity: the run itself, so a
-- run is summarised once, in the window where its last payment completed. A payment's data has no
-- update time: completed_at is the as-of time of the window that saw the run's last payment.
WITH touched AS (
    SELECT DISTINCT settlement_run_id FROM raw.payments
    WHERE window_start BETWEEN $window_first AND $window_last AND settlement_run_id IS NOT NULL
),
current AS (
    SELECT p.* FROM raw.payments p SEMI JOIN touched t ON t.settlement_run_id = p.settlement_run_id
    WHERE p.window_start <= $window_last
    QUALIFY row_number() OVER (PARTITION BY p.wid ORDER BY p.window_start DESC) = 1
),
runs AS (
    SELECT settlement_run_id, count(*) AS payments, bool_and(status = 'Complete') AS complete,
           max(coalesce(updated_at, as_of)) AS completed_at, list(DISTINCT company_id ORDER BY company_id) AS company_ids,
           min(payment_date) AS payment_date
    FROM current GROUP BY settlement_run_id
),
totals AS (
    SELECT settlement_run_id,
           list({'company_id': company_id, 'currency': currency, 'payments': n, 'total': CAST(total AS VARCHAR)}
                ORDER BY company_id, currency) AS totals
    FROM (SELECT settlement_run_id, company_id, currency, count(*) AS n, sum(amount) AS total
          FROM current GROUP BY ALL)
    GROUP BY settlement_run_id
),
payees AS (
    SELECT settlement_run_id,
           list({'supplier_id': supplier_id, 'supplier_name': supplier_name, 'currency': currency,
                 'amount': CAST(amount AS VARCHAR)} ORDER BY amount DESC, supplier_id) AS largest
    FROM (SELECT * FROM current
          QUALIFY row_number() OVER (PARTITION BY settlement_run_id ORDER BY amount DESC, supplier_id) <= 5)
    GROUP BY settlement_run_id
)
SELECT
    'run|' || r.settlement_run_id                                    AS alert_key,
    'payments'                                                       AS entity,
    NULL                                                             AS entity_wid,
    r.settlement_run_id                                              AS entity_id,
    NULL                                                             AS company_id,
    NULL                                                             AS supplier_id,
    NULL                                                             AS currency,
    NULL::DECIMAL(18,4)                                              AS amount,
    NULL::INTEGER                                                    AS level,
    r.company_ids,
    to_json({
        'settlement_run_id': r.settlement_run_id,
        'payments': r.payments,
        'payment_date': CAST(r.payment_date AS VARCHAR),
        'completed_at': CAST(r.completed_at AS VARCHAR),
        'totals': t.totals,
        'largest_payees': p.largest
    })                                                               AS details
FROM runs r JOIN totals t USING (settlement_run_id) JOIN payees p USING (settlement_run_id)
WHERE r.complete
ORDER BY r.settlement_run_id
