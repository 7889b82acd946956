"""teambot.usage: what answers cost and who may ask more. The ledger (ledger.py) counts tokens and
tool calls per user and workspace, per day and month, in a store (store.py in memory, firestore.py
on Firestore), checks the daily budgets, prices them (prices.py) and renders the Home tab (home_tab.py).

May import: teambot.slack, teambot.gcp, teambot.core and google.cloud.firestore (lazily)."""
