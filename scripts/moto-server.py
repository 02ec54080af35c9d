"""moto's server (the AWS APIs on loopback, for the tests and `make demo CLOUD=aws`), with two fixes.

1. moto 5.2 answers DescribeLaunchTemplates with the tags a launch template had when it was
   created: the template's tags are copied once (`self.tags = self.get_tags()`) while
   CreateTags/DeleteTags change the tag store. The AWS provider reads the tags from that answer, so
   every per-deploy tag change (gitops:commit) showed as a change again on the next plan. AWS
   answers with the current tags; so does this server.
2. moto 5.2 gives every RDS instance the same DbiResourceId ("db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U"). The
   AWS provider (5.x) finds an instance by that id, so with two instances in one server (two
   certification profiles at once) it found two and failed ("couldn't find resource"). AWS gives
   each instance its own; so does this server.

Everything else is moto as installed.
"""

import secrets
import string
import sys

from moto.ec2.models.launch_templates import LaunchTemplate
from moto.rds.models import DBInstance
from moto.server import main

# 1. Read through to the tag store; the one assignment in __init__ is ignored.
LaunchTemplate.tags = property(lambda self: self.get_tags(), lambda self, value: None)

# 2. A DbiResourceId per instance, in AWS's form (db- and 26 upper-case letters and digits).
_db_instance_init = DBInstance.__init__


def _db_instance_init_unique(self, *args, **kwargs):
    _db_instance_init(self, *args, **kwargs)
    alphabet = string.ascii_uppercase + string.digits
    self.dbi_resource_id = "db-" + "".join(secrets.choice(alphabet) for _ in range(26))


DBInstance.__init__ = _db_instance_init_unique

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
