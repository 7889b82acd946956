"""teambot.answer: the worker's side. worker.py runs a job with its handler, given a Context
(services.py); pipeline.py streams one answer: the thread's history (history.py) and files
(files.py, file_download.py, file_text.py), the model stream (model.py, responses_stream.py), the
hosted tools (tools.py, citations.py, knowledge.py, code_files.py, mcp_approvals.py, claims.py),
and the reply through teambot.slack; takeover.py resumes an answer an instance left unfinished.

May import: teambot.usage, teambot.slack, teambot.gcp, teambot.core, openai, slack_sdk, google.cloud."""
