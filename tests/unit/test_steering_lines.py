"""What deploy --detach, resume and abort say about the controller running the deployment
(zerodown/commands/deploying.py)."""

from zerodown.commands.deploying import controller_named


def test_the_controller_is_named_with_its_pid_once_it_runs_the_deployment():
    assert controller_named({"controller_pid": 4242}) == "the controller (pid 4242)"


def test_a_deployment_not_taken_up_yet_names_no_pid_rather_than_pid_dash():
    # `deploy --detach` asks right after creating it: the runner may not hold it yet, and
    # "in the controller (pid -)" read as if no controller ran
    assert controller_named({"controller_pid": None}) == "the controller"
