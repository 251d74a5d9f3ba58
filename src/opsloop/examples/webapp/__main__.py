"""`python -m opsloop.examples.webapp`: the web app on uvicorn."""

from opsloop.examples.webapp.app import main

main()
