"""Stand-in for ansible-test's pip bootstrap script where its download host is unreachable.

ansible-test runs the bootstrap script with pip's install arguments to put pip into a new virtual
environment; this does the same with the interpreter's own ensurepip and then pip from the package index.
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
