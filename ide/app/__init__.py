"""The Streamlit app: the pages, their widgets and actions over the API.

`SCRIPT` is the file that `streamlit run` (and AppTest) runs; importing this package does
not import Streamlit.
"""

from pathlib import Path

SCRIPT = str(Path(__file__).with_name("main.py"))
