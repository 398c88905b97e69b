-- journals_balance: every journal entry polled in the window has line debits equal to line credits.
-- Returns one row per journal that does not, with its figures (an empty result passes the check).
SELECT j.journal_id,
       sum(coalesce(l.debit, 0))  AS debits,
       sum(coalesce(l.credit, 0)) AS credits
FROM raw.journal_entries j
JOIN raw.journal_lines l ON l.parent_wid = j.wid AND l.window_start = j.window_start
WHERE j.window_start = $window_start
GROUP BY j.journal_id
HAVING sum(coalesce(l.debit, 0)) <> sum(coalesce(l.credit, 0))
ORDER BY j.journal_id
