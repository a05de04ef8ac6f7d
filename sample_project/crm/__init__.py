"""Sample app: a typed Lead model written by ``zcrm_inspect Leads``, synced by ``zcrm_sync``."""
