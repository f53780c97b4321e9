"""spark-submit entrypoint for `tailguard report`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/report.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
