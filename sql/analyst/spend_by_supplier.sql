-- Spend by supplier: approved invoice amounts per supplier and currency for the current month,
-- largest first. Amounts are exact DECIMALs, and currencies are never added together.
SELECT supplier_id, supplier_name, currency,
       count(*)    AS invoices,
       sum(amount) AS invoiced
FROM analytics.supplier_invoices
WHERE approval_status = 'APPROVED'
  AND invoice_date >= date_trunc('month', current_date)
GROUP BY ALL
ORDER BY invoiced DESC
LIMIT 50;
