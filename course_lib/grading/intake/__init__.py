"""Taking a submission in: validating its notebooks, repairing their structure, verifying archives."""
