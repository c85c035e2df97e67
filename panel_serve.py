"""``panel serve panel_serve.py`` serves the whole Driftdeck dashboard.

The config is $DRIFTDECK_CONFIG or ./driftdeck.toml. Panel runs this file once per browser
session: each session gets its own template and time window, and all of them share the
process-wide engine (one computation for every user).
"""

from app.closed_sessions import quiet_closed_sessions
from app.pages.shell import create_app

quiet_closed_sessions()  # a browser that goes away is not an error in the server log
create_app().servable(title="Driftdeck")
