"""The reference: a bare functions-framework HTTP function that returns 200."""

import functions_framework


@functions_framework.http
def hello(request):
    return ""
