-- Alerts by rule and channel over the last 7 days, with how many reached Slack.
SELECT rule, channel,
       count(*)                                   AS alerts,
       count(*) FILTER (WHERE status = 'sent')    AS sent,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'failed')  AS failed
FROM analytics.alerts
WHERE created_at >= now()::TIMESTAMP - INTERVAL 7 DAY
GROUP BY ALL
ORDER BY alerts DESC;
