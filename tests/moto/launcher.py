"""Starts moto in server mode on a free loopback port, with its known EC2 divergences corrected.

Prints "READY <port>" once listening, then serves until its standard input closes (the test
process that started it ended) or it is sent SIGTERM. Each patch names the divergence it
corrects; tests/emulator/fidelity.rs shows each corrected behaviour through the real SDK.

Standard input also takes seeding commands, one a line, each answered "DONE" or "ERROR ...":
  age-access-key <account> <access-key-id> <days>
    makes an access key <days> old, as an account that has had it that long would show.
    (No AWS API can create an old key, so a seeded account gets one this way.)
"""

import datetime
import logging
import signal
import sys
import threading

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.instances import InstanceResponse
from moto.server import ThreadedMotoServer


def _own_groups_only(self):
    # Divergence 1: moto reports an attached interface's groups as the union of its own and
    # its instance's launch groups, so replacing an interface's groups looks like adding one.
    # In EC2 an interface carries exactly its own groups.
    return self._group_set


NetworkInterface.group_set = property(_own_groups_only)


class MultipleInterfacesError(EC2ClientError):
    def __init__(self, instance_id):
        super().__init__(
            "InvalidInstanceID",
            f"There are multiple interfaces attached to instance '{instance_id}'. "
            "Please specify an interface ID for the operation instead.",
        )


_modify_instance_security_groups = InstanceBackend.modify_instance_security_groups


def _refuse_groups_on_multi_interface_instances(self, instance_id, new_group_id_list):
    # Divergence 2: moto accepts ModifyInstanceAttribute(Groups) on an instance with several
    # interfaces; EC2 refuses it with InvalidInstanceID.
    instance = self.get_instance(instance_id)
    if new_group_id_list and len(getattr(instance, "nics", {})) > 1:
        raise MultipleInterfacesError(instance_id)
    return _modify_instance_security_groups(self, instance_id, new_group_id_list)


InstanceBackend.modify_instance_security_groups = _refuse_groups_on_multi_interface_instances


_groups_handler = InstanceResponse._security_grp_instance_attribute_handler


def _shutdown_behavior_or_groups(self):
    # Divergence 3: moto has no handler for ModifyInstanceAttribute with
    # InstanceInitiatedShutdownBehavior.Value; the call falls through to its Groups handler,
    # which sets the instance's groups to the empty list and reports success. EC2 sets the
    # shutdown behaviour and leaves the groups alone.
    value = self._get_param("InstanceInitiatedShutdownBehavior.Value")
    if value is None:
        return _groups_handler(self)
    self.error_on_dryrun()
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    instance.instance_initiated_shutdown_behavior = value
    return True


InstanceResponse._security_grp_instance_attribute_handler = _shutdown_behavior_or_groups


def command(words):
    try:
        if words[:1] == ["age-access-key"] and len(words) == 4:
            from moto.iam.models import iam_backends

            _, account, key_id, days = words
            backend = iam_backends[account]["aws"]
            for user in backend.users.values():
                for key in user.access_keys:
                    if key.access_key_id == key_id:
                        key.create_date = key.create_date - datetime.timedelta(days=int(days))
                        return "DONE"
            return f"ERROR no access key {key_id} in {account}"
        return f"ERROR unknown command {' '.join(words)!r}"
    except Exception as err:  # answered, never fatal: the emulator keeps serving
        return f"ERROR {err!r}"


def main():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(f"READY {port}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_stdin():
        for line in sys.stdin:
            print(command(line.split()), flush=True)
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
