"""spark-submit entrypoint for `tailguard sample`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/sample.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["sample", *sys.argv[1:]]))
