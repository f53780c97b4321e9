"""spark-submit entrypoint for `tailguard audit`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/audit.py --input PATH --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["audit", *sys.argv[1:]]))
