-- journal_entries: `intercompany` is only a request criterion in Workday's schema, not journal data.
-- A journal of the window is intercompany when one of its lines posts to a company other than the
-- journal's own; a line naming no company posts to the journal's (not intercompany).
-- gl_discrepancy.sql checks the due-to/due-from netting of these journals.
UPDATE raw.journal_entries AS j
SET intercompany = EXISTS (
    SELECT 1 FROM raw.journal_lines l
    WHERE l.window_start = $window_start AND l.parent_wid = j.wid AND l.company_id <> j.company_id
)
WHERE j.window_start = $window_start;
