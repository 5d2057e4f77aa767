"""Background work survives a worker that dies mid-task, and periodic jobs fire when due."""

import datetime

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from kede.conftest import deliver_copy
from kede.core.runtime import PERIODIC, Scheduler, run_pending_tasks
from kede.core.tasks import requeue_stalled

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_mail_whose_worker_died_is_sent_after_it_is_requeued(network, mailoutbox):
    # given a delivered copy whose mail task a worker claimed and then died on
    deliver_copy(network)
    stalled = timezone.now() - datetime.timedelta(hours=2)
    DBTaskResult.objects.update(status="RUNNING", started_at=stalled, worker_ids=["dead"])
    assert run_pending_tasks() == 0
    # when the scheduler's housekeeping runs
    assert requeue_stalled() == 1
    run_pending_tasks()
    # then the reader gets the mail once
    assert len(mailoutbox) == 1
    assert requeue_stalled() == 0


def test_a_task_running_for_a_short_while_is_left_alone(network):
    deliver_copy(network)
    DBTaskResult.objects.update(status="RUNNING", started_at=timezone.now())
    assert requeue_stalled() == 0


def test_the_scheduler_enqueues_each_job_when_due_and_not_before():
    scheduler = Scheduler()
    first = scheduler.tick(now=1000.0)
    assert sorted(first) == sorted(job.task_path for job in PERIODIC)
    assert scheduler.tick(now=1001.0) == []
    shortest = min(job.every_seconds for job in PERIODIC)
    assert scheduler.tick(now=1000.0 + shortest)
    assert DBTaskResult.objects.filter(status="READY").count() == len(PERIODIC) + 1
