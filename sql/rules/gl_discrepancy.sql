-- gl_discrepancy: journal entries that do not add up, checked for every journal changed in the
-- window(s), in its latest version:
--   unbalanced          line debits <> line credits;
--   header_mismatch     Total_Ledger_Debits/Credits <> the sums of the lines;
--   retired_account     a line posts to a ledger account that is retired or not in the chart of
--                       accounts (checked only once a chart of accounts has been loaded);
--   intercompany        an intercompany journal whose due-to/due-from lines do not net to zero across
--                       companies. Intercompany accounts: $intercompany_accounts when a subscription
--                       names them, else accounts named "Intercompany ..." or "... Due To/From ...".
-- Identity: the journal, the check and the offending figures: correcting the journal to another wrong
-- figure raises a new alert; re-running a window does not.
-- Not covered yet: the AP subledger (approved invoices) against the AP control account for a period.
WITH changed AS (
    SELECT wid, window_start FROM raw.journal_entries
    WHERE window_start BETWEEN $window_first AND $window_last
    QUALIFY row_number() OVER (PARTITION BY wid ORDER BY window_start DESC) = 1
),
journals AS (SELECT j.* FROM raw.journal_entries j JOIN changed c USING (wid, window_start)),
lines AS (
    SELECT l.* FROM raw.journal_lines l JOIN changed c ON l.parent_wid = c.wid AND l.window_start = c.window_start
),
chart AS (  -- the latest chart of accounts loaded at or before the window
    SELECT a.* FROM raw.ledger_accounts a
    WHERE a.window_start = (SELECT max(window_start) FROM raw.ledger_accounts
                            WHERE window_start <= $window_last)
),
intercompany_accounts AS (
    SELECT ledger_account_id FROM chart
    WHERE len($intercompany_accounts) = 0
      AND regexp_matches(lower(name), 'intercompany|due (to|from)')
    UNION SELECT unnest($intercompany_accounts)
),
sums AS (
    SELECT parent_wid AS wid, sum(coalesce(debit, 0)) AS debits, sum(coalesce(credit, 0)) AS credits
    FROM lines GROUP BY ALL
),
bad_accounts AS (
    SELECT l.parent_wid AS wid,
           list(DISTINCT l.ledger_account_id ORDER BY l.ledger_account_id) AS accounts
    FROM lines l LEFT JOIN chart a ON a.ledger_account_id = l.ledger_account_id
    WHERE (a.ledger_account_id IS NULL OR a.retired) AND EXISTS (SELECT 1 FROM chart)
    GROUP BY ALL
),
intercompany_net AS (
    SELECT l.parent_wid AS wid, sum(coalesce(l.debit, 0) - coalesce(l.credit, 0)) AS net
    FROM lines l SEMI JOIN intercompany_accounts i ON i.ledger_account_id = l.ledger_account_id
    GROUP BY ALL
),
findings AS (
    SELECT j.wid, 'unbalanced' AS check_name,
           'debits ' || CAST(s.debits AS VARCHAR) || ' <> credits ' || CAST(s.credits AS VARCHAR) AS finding,
           s.debits - s.credits AS difference
    FROM journals j JOIN sums s USING (wid) WHERE s.debits <> s.credits
    UNION ALL
    SELECT j.wid, 'header_mismatch',
           'header ' || CAST(j.total_debits AS VARCHAR) || '/' || CAST(j.total_credits AS VARCHAR)
           || ' <> lines ' || CAST(s.debits AS VARCHAR) || '/' || CAST(s.credits AS VARCHAR),
           coalesce(j.total_debits, 0) - s.debits
    FROM journals j JOIN sums s USING (wid)
    WHERE j.total_debits IS DISTINCT FROM s.debits OR j.total_credits IS DISTINCT FROM s.credits
    UNION ALL
    SELECT b.wid, 'retired_account', 'posts to retired or unknown account(s) ' || array_to_string(b.accounts, ', '),
           NULL
    FROM bad_accounts b
    UNION ALL
    SELECT n.wid, 'intercompany', 'due-to/due-from net ' || CAST(n.net AS VARCHAR) || ' across companies', n.net
    FROM intercompany_net n JOIN journals j USING (wid) WHERE j.intercompany AND n.net <> 0
)
SELECT
    f.wid || '|' || f.check_name || '|' || f.finding                AS alert_key,
    'journal_entries'                                                AS entity,
    f.wid                                                            AS entity_wid,
    j.journal_id                                                     AS entity_id,
    j.company_id,
    NULL                                                             AS supplier_id,
    j.currency,
    f.difference                                                     AS amount,
    NULL::INTEGER                                                    AS level,
    to_json({
        'journal_id': j.journal_id,
        'check': f.check_name,
        'finding': f.finding,
        'company_id': j.company_id,
        'currency': j.currency,
        'accounting_date': CAST(j.accounting_date AS VARCHAR),
        'journal_source': j.journal_source,
        'status': j.status,
        'total_debits': CAST(j.total_debits AS VARCHAR),
        'total_credits': CAST(j.total_credits AS VARCHAR),
        'memo': j.memo
    })                                                               AS details
FROM findings f JOIN journals j USING (wid)
ORDER BY j.journal_id, f.check_name
