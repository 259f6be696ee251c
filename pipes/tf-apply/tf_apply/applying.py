"""``MODE: apply`` and ``destroy``: a saved plan applied once, or the configuration applied."""
from __future__ import annotations

from pipes_common import log as plog
from pipes_common.errors import PipeError
from pipes_common.fsutil import atomic_write

from . import planstore, summary
from .run import Result, Run, common_args, log_summary, outputs_of, publish, report
from .terraform import JsonRun


def run_apply(run: Run) -> int:
    """Apply (or destroy) the configuration as it is now."""
    s = run.s
    args = ["apply", *common_args(s), "-auto-approve"]
    if s.mode == "destroy":
        args.append("-destroy")
    result = run.tf.run_json([*args, *s.extra_args])
    if s.mode == "apply":
        report(run, summary.from_events(result.events), None)
    return applied(run, result, "Destroyed" if s.mode == "destroy" else "Applied")


def run_saved(run: Run) -> int:
    """Apply the saved plan ``PLAN_ID``: checked fresh, claimed, applied, recorded."""
    s, tf, spaces = run.s, run.tf, run.store
    assert s.plan_id
    log = plog.get_logger()
    store = planstore.PlanStore(spaces, s.plans_prefix)
    record, plan_bytes = store.load(s.plan_id)
    if record.workspace != s.workspace or record.state_object != s.state_object:
        raise PipeError(f"PLAN_ID: the plan '{s.plan_id}' was made for {record.state_object}, not "
                        f"{s.state_object}: use the same STATE_KEY and WORKSPACE as the plan step")
    if record.terraform_version != tf.version():
        raise PipeError(f"PLAN_ID: the plan '{s.plan_id}' was made with Terraform "
                        f"{record.terraform_version}, this pipe bundles {tf.version()}: use the "
                        "same tf-apply version for plan and apply")
    current = planstore.read_state(spaces, s.state_object)
    planstore.check_fresh(record, current)
    plan_file = run.work / planstore.PLAN_FILE
    atomic_write(plan_file, plan_bytes, mode=0o600)
    log.info("Saved plan '%s' is current (%s, sha256 %s…).", s.plan_id, current.describe(),
             record.sha256[:12])
    exclusive = planstore.claim_mode(run.conditional_writes, s.locking, spaces.endpoint, s.plan_id)
    store.claim(s.plan_id, s.build_number, exclusive=exclusive)
    try:
        result = tf.run_json(["apply", "-input=false", "-no-color",
                              f"-lock-timeout={s.lock_timeout}",
                              *(["-lock=false"] if s.locking == "off" else []), *s.extra_args,
                              str(plan_file)])
    except PipeError:
        if planstore.read_state(spaces, s.state_object) == record.state:
            store.release(s.plan_id)  # nothing was written: the plan is still good to apply
            log.info("The state is unchanged: the saved plan '%s' can be applied again.", s.plan_id)
        else:
            store.finish(s.plan_id, s.build_number, "failed")
        raise
    store.finish(s.plan_id, s.build_number, "applied")
    return applied(run, result, f"Applied saved plan {s.plan_id}")


def applied(run: Run, result: JsonRun, what: str) -> int:
    sm = summary.from_events(result.events)
    log_summary(sm)
    outs = outputs_of(result)
    publish(run, Result(sm=sm, outs=outs, plan_id=run.s.plan_id))
    for name in outs.sensitive:
        plog.get_logger().info("output %s is sensitive: not shown, not written", name)
    plog.success(f"{what}: {sm.headline()}")
    return 0
