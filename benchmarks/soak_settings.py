"""Settings of the soak's processes: production's, with the broker's redelivery scan every 10 s.

kombu's Redis transport looks for unacknowledged messages older than the visibility timeout only
every unacked_restore_interval x unacked_restore_throttle seconds (10 x 10 by default), so in
production a dead worker's task comes back after the visibility timeout plus up to 100 s. The
soak shortens the timeout (see SoakConfig) and scans every 10 s, so the redelivery it waits for
fits in a short run.
"""
from leadsync_portal.settings import *  # noqa: F403
from leadsync_portal.settings import CELERY_BROKER_TRANSPORT_OPTIONS

CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "unacked_restore_throttle": 1}
