"""The public CrowdSec hub's HTTP scenario tests, scanned by apiwatch (a conformance suite)."""
