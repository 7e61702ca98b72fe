"""OpenClaw, the personal-assistant gateway, driving swarms: the codeswarm skill (``skill/``:
``SKILL.md``, shipped as package data) and its installer (``install``), used by
``codeswarm install openclaw``. See ``docs/openclaw.md``."""
