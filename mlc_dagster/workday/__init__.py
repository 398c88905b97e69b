"""Workday Financial Management client: entity registry, SOAP client, streaming parser.

A plain library: nothing here knows about Dagster or Slack.
"""
