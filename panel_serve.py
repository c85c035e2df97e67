"""``panel serve panel_serve.py`` serves the whole Driftdeck dashboard.

The config is $DRIFTDECK_CONFIG or ./driftdeck.toml. Panel runs this file once per browser
session: each session gets its own template and time window, and all of them share the
process-wide engine (one computation for every user).
"""

from app.pages.shell import create_app

create_app().servable(title="Driftdeck")
