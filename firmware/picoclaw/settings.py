# The loaded configuration: a plain attribute holder. It lives in its own tiny module so
# that keeping the settings does not keep the config loader's code in RAM (config.py is
# unloaded after start).


class Settings:
    pass
