"""Models, roles, engines and (later) updates: ``sparring.agents``."""

from sparring.agents import builtin_roles, parsers
from sparring.agents.builtin_roles import BUILTIN_ROLES
from sparring.agents.engines import Completion, Engine, GenerationRequest, ScriptedEngine
from sparring.agents.parsers import ParseError
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams

__all__ = [
    "BUILTIN_ROLES", "Completion", "Engine", "GenerationRequest", "ParseError", "Role",
    "SamplingParams", "ScriptedEngine", "builtin_roles", "parsers",
]
