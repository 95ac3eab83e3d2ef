"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap its venvs.

ansible-test fetches get-pip.py from a host these machines cannot reach. Its
job is small: put pip into an empty virtual environment, then pip-install the
packages named on the command line. ensurepip (standard library) and the
package index do the same. `make sanity` copies this file to the path
ansible-test looks for before downloading.
"""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    env = dict(os.environ)
    # ensurepip points PIP_CONFIG_FILE at /dev/null in this process; the pip
    # install below must see the machine's pip configuration (index, CA).
    ensurepip.bootstrap(upgrade=True)
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args, env=env)


if __name__ == "__main__":
    main()
