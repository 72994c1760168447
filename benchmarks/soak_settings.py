"""Settings of the soak's processes: production's, with the broker's redelivery scan every 10 s.

kombu's Redis transport looks for unacknowledged messages older than the visibility timeout only
every unacked_restore_interval x unacked_restore_throttle seconds (10 x 10 by default), so in
production a dead worker's task comes back after the visibility timeout plus up to 100 s. The
soak shortens the timeout (see SoakConfig) and scans every 10 s, so the redelivery it waits for
fits in a short run.

SOAK_BROKER_KEY_PREFIX: the broker key prefix of the process that runs the soak (under pytest, the
test run's own, see settings_test), so the tasks the soak queues itself (the archive it kills a
worker in the middle of) reach its workers. Without it they sat in queues no worker read.
"""
import os

from leadsync_portal.settings import *  # noqa: F403
from leadsync_portal.settings import CELERY_BROKER_TRANSPORT_OPTIONS

CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "unacked_restore_throttle": 1}
if os.environ.get("SOAK_BROKER_KEY_PREFIX"):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = os.environ["SOAK_BROKER_KEY_PREFIX"]
