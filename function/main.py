"""Cloud Function entry point `slack_bot` (gen2, HTTP). Thin on purpose: it only routes.

POST /               Slack Events API and interactivity (signed by Slack)
POST /tasks/answer   jobs from Cloud Tasks (OIDC-authenticated)
"""

import functions_framework

from teambot.app import check_settings_or_exit, get_app

check_settings_or_exit()  # a malformed setting stops the process here, with one line naming it


@functions_framework.http
def slack_bot(request):
    return get_app().route(request)
