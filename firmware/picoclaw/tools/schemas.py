# JSON schemas of the built-in tools (files, system, message, gpio, web) for
# tools/offer.write_schemas, which runs once, at start.
#
# One module of constants, apart from the tool code: writing the schemas loads this module
# alone instead of every tool module in turn, and running a tool does not load schemas. A tool module not described
# here (cron) keeps its own SCHEMAS. Each entry is (name, description, JSON schema of the
# arguments); descriptions are written into a JSON string as they are, so they hold no
# '"', '\\' or control characters.

SCHEMAS = (
    # files
    (b"read_file",
     b"Read a text file in the workspace (paths are relative to it). Long files come in parts:"
     b" a note at the end gives the offset to read on from. Long-term notes live in"
     b" memory/MEMORY.md: read it to recall what you were asked to remember.",
     b'{"type":"object","properties":{"path":{"type":"string","description":"file path relative'
     b' to the workspace"},"offset":{"type":"integer","description":"byte offset to start at'
     b' (default 0)"}},"required":["path"]}'),
    (b"write_file",
     b"Create or replace a file in the workspace with the given content (up to 32 KB; missing"
     b" folders are created). Long-term notes live in memory/MEMORY.md.",
     b'{"type":"object","properties":{"path":{"type":"string","description":"file path relative'
     b' to the workspace"},"content":{"type":"string"}},"required":["path","content"]}'),
    (b"append_file",
     b"Append content to the end of a workspace file (created if missing). To remember"
     b" something for good, append a line to memory/MEMORY.md.",
     b'{"type":"object","properties":{"path":{"type":"string","description":"file path relative'
     b' to the workspace"},"content":{"type":"string"}},"required":["path","content"]}'),
    (b"edit_file",
     b"Replace text in a workspace file: old must occur exactly once (include surrounding text"
     b" to make it unique) and is replaced by new. old and new: up to 1024 bytes each.",
     b'{"type":"object","properties":{"path":{"type":"string"},"old":{"type":"string",'
     b'"description":"exact text to replace"},"new":{"type":"string","description":'
     b'"replacement text (empty to delete)"}},"required":["path","old","new"]}'),
    (b"list_dir",
     b"List a folder of the workspace: folders end with /, files show their size in bytes.",
     b'{"type":"object","properties":{"path":{"type":"string","description":"folder relative'
     b' to the workspace (default: the workspace itself)"}}}'),
    # system
    (b"get_time",
     b"Current local date and time (ISO 8601 with the UTC offset, in the owner's time zone if one"
     b" is configured, else UTC), the weekday, and how long the device has been up.",
     b'{"type":"object","properties":{}}'),
    (b"system_status",
     b"Device status: free and used heap memory, uptime, Wi-Fi connection.",
     b'{"type":"object","properties":{}}'),
    # message
    (b"message",
     b"Send a message to the owner's Telegram chat right away (up to 4096 characters), e.g."
     b" progress on a long task. Your final answer is sent anyway: do not repeat it here.",
     b'{"type":"object","properties":{"text":{"type":"string","description":"the message"}},'
     b'"required":["text"]}'),
    # gpio
    (b"gpio_read",
     b"Read the level (0 or 1) of a GPIO pin. Only pins allowed by the board configuration.",
     b'{"type":"object","properties":{"pin":{"type":"integer","description":"GPIO number"}},'
     b'"required":["pin"]}'),
    (b"gpio_write",
     b"Set an output GPIO pin to 0 (low) or 1 (high). Only pins allowed by the board"
     b" configuration.",
     b'{"type":"object","properties":{"pin":{"type":"integer","description":"GPIO number"},'
     b'"value":{"type":"integer","enum":[0,1]}},"required":["pin","value"]}'),
    (b"adc_read",
     b"Read an analog input pin: a raw value from 0 to 65535 (0 V to about the board's 3.3 V)."
     b" Only pins allowed by the board configuration.",
     b'{"type":"object","properties":{"pin":{"type":"integer","description":"GPIO number"}},'
     b'"required":["pin"]}'),
    # fetch
    (b"web_fetch",
     b"Fetch a web page (http or https) and read it as plain text: HTML is turned into text"
     b" with its links kept, JSON and text come as they are. Long pages are cut at max_chars."
     b" Addresses on the local network are refused.",
     b'{"type":"object","properties":{"url":{"type":"string","description":"the full URL,'
     b' http:// or https://"},"max_chars":{"type":"integer","description":"characters of'
     b' text to return (default and at most 4000)"}},"required":["url"]}'),
    # search
    (b"web_search",
     b"Search the web: up to count results, each with its title, URL and a snippet. Read a"
     b" result in full with web_fetch.",
     b'{"type":"object","properties":{"query":{"type":"string","description":"what to search'
     b' for"},"count":{"type":"integer","description":"results wanted (default: the'
     b' configured max_results, 5 unless set; at most 10)"}},"required":["query"]}'),
)
