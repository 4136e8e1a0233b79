# Runs first at every start, before main.py: kept tiny (the work is in main.py).
try:
    import esp

    esp.osdebug(None)  # ESP-IDF's own log lines would mix into the console (and into mpremote)
except (ImportError, AttributeError):
    pass
