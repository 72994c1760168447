"""Every write. Import services from their modules (monitoring.services.<area>)."""
