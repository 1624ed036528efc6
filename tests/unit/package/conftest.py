import os
import sys

# pkgfiles.py beside the tests holds the package-writing helpers.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
