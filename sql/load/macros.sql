-- macros: not an entity's load SQL, but what several of them share. Run (as temporary macros of the
-- loading connection) before any entity's load SQL, so that every file resolving an invoice's due
-- date resolves it the same way.
--
-- invoice_due_dates(only_window, missing_only): the raw.supplier_invoices rows of window
-- `only_window`, or (`missing_only`) every row still without a due date, each with its due date and
-- where it came from (decision 6; Workday sends no due date, only what it is computed from):
--   'override'        Due_Date_Override;
--   'invoice_terms'   else the invoice date plus the Due_Days of the invoice's own payment terms;
--   'supplier_terms'  when the invoice names no terms, plus the Due_Days of its supplier's terms;
--   NULL              neither known yet (the due date too).
-- Terms and suppliers are their current versions (latest window). An invoice naming terms not loaded
-- yet stays NULL rather than taking its supplier's: payment_terms.sql fills it once they arrive.
CREATE OR REPLACE TEMP MACRO invoice_due_dates(only_window, missing_only) AS TABLE
WITH terms AS (
    SELECT payment_terms_id, due_days FROM raw.payment_terms
    QUALIFY row_number() OVER (PARTITION BY payment_terms_id ORDER BY window_start DESC) = 1
),
supplier_terms AS (
    SELECT supplier_id, payment_terms_id FROM raw.suppliers
    QUALIFY row_number() OVER (PARTITION BY supplier_id ORDER BY window_start DESC) = 1
),
resolved AS (
    SELECT i.wid, i.window_start, i.invoice_id, i.due_date_override,
           i.invoice_date + t.due_days                                       AS from_terms,
           CASE WHEN i.payment_terms_id IS NOT NULL THEN 'invoice_terms' ELSE 'supplier_terms' END AS terms_source
    FROM raw.supplier_invoices i
    LEFT JOIN supplier_terms s ON i.payment_terms_id IS NULL AND s.supplier_id = i.supplier_id
    LEFT JOIN terms t ON t.payment_terms_id = coalesce(i.payment_terms_id, s.payment_terms_id)
    WHERE i.window_start = only_window OR (missing_only AND i.due_date IS NULL)
)
SELECT wid, window_start, invoice_id,
       coalesce(due_date_override, from_terms)                               AS due_date,
       CASE WHEN due_date_override IS NOT NULL THEN 'override'
            WHEN from_terms IS NOT NULL THEN terms_source END                AS due_date_source
FROM resolved;
