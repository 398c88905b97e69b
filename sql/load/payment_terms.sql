-- payment_terms: loaded daily, so an invoice may have loaded before the terms it (or its supplier)
-- names and has no due date. Each payment-terms window fills the due date of every invoice row still
-- without one that the terms known now resolve, as supplier_invoices.sql does (macros.sql).
UPDATE raw.supplier_invoices AS i
SET due_date = d.due_date, due_date_source = d.due_date_source
FROM invoice_due_dates(NULL, true) AS d
WHERE i.wid = d.wid AND i.window_start = d.window_start AND i.due_date IS NULL AND d.due_date IS NOT NULL;
