"""One settings object for the whole server.

Values come, highest precedence first, from keyword arguments (the CLI), ``CLOUD_AGENT_*``
environment variables, and an optional TOML file named by ``CLOUD_AGENT_CONFIG_FILE``.
Nothing else in the code base reads the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .routing.routers import RouterMap


class Settings(BaseSettings):
    """Server configuration; every field is documented by ``cloud-agent serve --help``."""

    model_config = SettingsConfigDict(env_prefix="CLOUD_AGENT_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port to bind (0 = any free port).")
    data_dir: Path = Field(Path("./data"), description="Directory for the SQLite file and keys.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite in data_dir. "
        "Production: postgresql+asyncpg://user@host/db",
    )
    secret_key: str | None = Field(
        None,
        description="HMAC key for agent session tokens and invite links; "
        "generated and kept in data_dir when unset.",
    )
    partition: str = Field("default", description="District (engine partition) of this node.")

    # Cluster (docs/operations.md 'Cluster'): several nodes on one Redis serve one queue.
    redis_url: str | None = Field(None, description="Redis URL, e.g. redis://127.0.0.1:6379/0: "
                                  "run as a node of a cluster (the nodes must share "
                                  "database_url and secret_key). None = one process.")
    redis_namespace: str = Field("", pattern=r"^[A-Za-z0-9_.-]*$", description="Prefix of "
                                 "this cluster's Redis keys after 'ca' (several clusters or "
                                 "tests on one Redis).")
    node_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="Name of "
                                "this node in the cluster; random when unset.")
    routing_partitions: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Districts with a router (engine, log and leader) "
        "of their own, comma-separated: 'haiyan' alone, or 'east=haining+tongxiang' for "
        "several on one router; every other district is routed by 'default'. Every node "
        "of a cluster must give the same list.")
    cluster_orphan_age: float = Field(60.0, gt=0, description="Seconds after its call was "
                                      "queued that a cluster's call record still live with "
                                      "no call behind it (the whole cluster stopped) is "
                                      "marked interrupted by the router's leader.")
    clock_offset: float = Field(0.0, description="Seconds added to this node's clock (tests "
                                "of a skewed node; the cluster's timers follow Redis's clock).")

    # Routing rules (DESIGN.md 'Routing semantics'); seconds.
    ring_timeout: float = Field(15.0, gt=0, description="Seconds an offer rings before re-offer.")
    max_no_answer: int = Field(3, ge=1, description="Missed offers in a row -> not-ready(missed).")
    reject_delay: float = Field(5.0, ge=0, description="Seconds before a rejecting agent is "
                                "offered again.")
    no_answer_delay: float = Field(0.0, ge=0, description="Seconds before an agent who let an "
                                   "offer time out is offered again.")
    wrap_up_time: float = Field(30.0, ge=0, description="Wrap-up seconds after a call "
                                "(0 = until the agent ends it).")
    widen_to_all_levels_after: float = Field(10.0, ge=0, description="Wait after which agents "
                                             "of any level of the skill are eligible.")
    widen_to_partition_after: float = Field(60.0, ge=0, description="Wait after which any ready "
                                            "agent of the district is eligible.")
    resume_grace: float = Field(30.0, ge=0, description="Seconds a dropped caller keeps its "
                                "place or call.")
    max_wait: float = Field(120.0, gt=0, description="Wait after which a callback is offered.")
    service_level_threshold: float = Field(2.0, gt=0, description="Service-level T in seconds.")
    short_abandon_threshold: float = Field(5.0, ge=0, description="Abandons shorter than this "
                                           "are excluded from the abandonment rate.")
    default_handle_time: float = Field(180.0, gt=0, description="Handle time assumed for the "
                                       "wait estimate before any call has been handled.")

    # Transport limits.
    max_message_bytes: int = Field(64 * 1024, gt=0, description="Largest WebSocket message.")
    rate_limit_per_second: float = Field(50.0, gt=0, description="Messages per second per "
                                         "connection (token bucket refill).")
    rate_limit_burst: int = Field(200, gt=0, description="Token bucket size per connection.")
    rate_limit_bytes_per_second: int = Field(
        256 * 1024, gt=0, description="Bytes per second per connection (token bucket refill); "
        "a connection over it is read no faster than this, so TCP slows the sender.")
    rate_limit_bytes_burst: int = Field(256 * 1024, gt=0, description="Byte bucket size per "
                                        "connection (four of the largest messages).")

    # Abuse limits: one client must not harm the others (docs/protocol.md 'Limits').
    max_calls_per_address: int = Field(10, ge=1, description="Live calls (waiting, ringing or "
                                       "in session) from one network address; kiosks exempt.")
    max_calls_per_company: int = Field(3, ge=1, description="Live calls for one unified social "
                                       "credit code.")
    max_caller_sockets_per_address: int = Field(30, ge=1, description="Open caller sockets "
                                                "from one network address.")
    new_sockets_per_minute: int = Field(60, ge=1, description="New sockets (caller or agent) "
                                        "one network address may open per minute (burst "
                                        "the same).")
    max_callbacks_per_address: int = Field(5, ge=1, description="Callback requests from one "
                                           "network address per day.")
    max_callbacks_per_phone: int = Field(3, ge=1, description="Callback requests for one "
                                         "phone number per day.")
    max_callbacks_per_day: int = Field(2000, ge=1, description="Callback requests per district "
                                       "per day, whatever their source.")
    screen_url_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="URL prefixes an agent may push to a caller's "
        "screen (comma-separated, e.g. https://www.zjzwfw.gov.cn/); none by default.")
    max_material_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Largest material "
                                    "(photo or PDF) a party may add to a call, in bytes.")
    wrap_up_outcome_required: bool = Field(True, description="Wrap-up needs an outcome code.")
    invite_max_uses: int = Field(50, ge=1, description="Most calls one invite link may carry.")
    case_prefix: str = Field("HY", pattern=r"^[A-Z0-9]{1,8}$", description="District prefix "
                             "of case numbers (HY-20261130-000123).")
    public_base_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
                                        description="The centre's public address, e.g. "
                                        "https://yun.haiyan.gov.cn, for links in webhooks and "
                                        "receipts; default: the address clients used.")

    agent_token_ttl: float = Field(12 * 3600.0, gt=0, description="Agent login lifetime.")
    invite_ttl: float = Field(24 * 3600.0, gt=0, description="Default invite link lifetime.")

    # Logins: each one costs a 64 MiB argon2 hash (docs/operations.md 'Security notes').
    password_hash_concurrency: int = Field(2, ge=1, description="Password checks (argon2) "
                                           "running at once; about the number of CPU cores.")
    login_queue_limit: int = Field(8, ge=0, description="Logins that may wait for a password "
                                   "check; more are refused with 503 busy and Retry-After.")
    login_max_failures: int = Field(5, ge=1, description="Failed logins for one username from "
                                    "one address before that pair is refused for a while.")
    login_max_failures_per_address: int = Field(30, ge=1, description="Failed logins from one "
                                                "address (any usernames) before it is refused "
                                                "for a while.")
    login_failure_window: float = Field(300.0, gt=0, description="Seconds a failed login "
                                        "counts against those limits.")
    api_docs: bool = Field(False, description="Serve /docs, /redoc and /openapi.json "
                           "(Swagger and ReDoc load their scripts from a CDN).")

    # ICE.
    stun_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="STUN URLs given to clients (none by default: loopback and LAN need none).")
    turn_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="TURN URLs (coturn).")
    turn_secret: str | None = Field(None, description="coturn static-auth-secret; enables "
                                    "TURN REST credentials.")
    turn_ttl: int = Field(3600, gt=0, description="Lifetime of minted TURN credentials.")
    ice_transport_policy: Literal["all", "relay"] = Field(
        "all", description="'relay' sends every call's media through TURN "
        "(iceTransportPolicy relay on both sides); needs turn_urls and turn_secret.")
    relay_kiosks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Kiosk ids on hostile networks whose calls are "
        "always relayed through TURN, whatever ice_transport_policy says.")

    kiosk_idle_seconds: float = Field(60.0, gt=0, description="Seconds without a touch "
                                      "before a kiosk wipes itself (menus, callback form).")
    kiosk_rating_idle_seconds: float = Field(15.0, gt=0, description="Seconds the kiosk's "
                                             "rating screen waits before wiping itself.")
    card_reader_url: str | None = Field(None, description="Base URL of the kiosk's local ID "
                                        "card reader service (GET /card), e.g. "
                                        "http://127.0.0.1:8765 for `cloud-agent reader-sim`; "
                                        "none by default (no card reading).")
    kiosk_document_camera: str | None = Field(None, description="Part of the device label of "
                                              "the kiosk's document camera (a second camera "
                                              "for photos of papers); none by default.")
    receipt_font: Path = Field(Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
                               description="CJK font (TTF, OTF or TTC) for the case receipt "
                               "PDF; Debian's fonts-noto-cjk by default. Without it PDF "
                               "receipts are off (the printable page still works).")
    case_lookups_per_minute: int = Field(20, ge=1, description="Case look-ups (/case, receipt "
                                         "pages and PDFs) one network address may make per "
                                         "minute.")
    ticket_due_days_complaint: int = Field(3, ge=1, le=60, description="Working days a "
                                           "complaint (投诉) ticket has before it is overdue.")
    ticket_due_days_inquiry: int = Field(1, ge=1, le=60, description="Working days of an "
                                         "inquiry (咨询) ticket.")
    ticket_due_days_assistance: int = Field(1, ge=1, le=60, description="Working days of an "
                                            "assistance request (求助) ticket.")
    ticket_due_days_suggestion: int = Field(5, ge=1, le=60, description="Working days of a "
                                            "suggestion (建议) ticket. A matter (事项) ticket "
                                            "has its matter's norm time.")

    # Admission (docs/operations.md "Directory" and "Load shedding").
    directory_refresh_interval: float = Field(1.0, gt=0, description="Seconds between reads "
                                              "of the directory stamp: a kiosk, account or "
                                              "skill changed by another process (cloud-agent "
                                              "admin, another node) is seen within this.")
    shed_loop_lag: float = Field(0.5, gt=0, description="Event-loop lag (seconds) over which "
                                 "new call requests get 'busy' instead of being queued.")
    shed_record_backlog: int = Field(5000, ge=1, description="Call-record writes waiting "
                                     "over which new call requests get 'busy'.")
    shed_identifying: int = Field(64, ge=1, description="Call requests being identified at "
                                  "once (invite look-ups in the database) over which new "
                                  "ones get 'busy'.")
    shed_store_backlog: int = Field(500, ge=1, description="Other store writes under way "
                                    "(session drafts, ...) over which new call requests get "
                                    "'busy'.")
    busy_retry_after_ms: int = Field(2000, ge=100, description="Mean retry hint of 'busy' in "
                                     "ms; each reply gets it jittered by +/-50 %.")

    # Consented recording (docs/operations.md "Recording").
    recording_policy: Literal["none", "consent", "consent_or_callback"] = Field(
        "none", description="Recording for every call: none; consent (ask, record with "
        "consent, go on unrecorded without); consent_or_callback (without consent, offer a "
        "callback instead). A kiosk's or a matter's own policy can only demand more.")
    recording_retention_days: float = Field(90.0, gt=0, description="Days a recording is "
                                            "kept; the purge deletes older files and rows.")
    recording_fps: int = Field(15, ge=1, le=30, description="Frames per second of the "
                               "recorded picture (both sides side by side).")
    recording_panel_height: int = Field(360, ge=90, le=1080, multiple_of=2,
                                        description="Height in pixels of each side's half of "
                                        "the recorded picture (16:9).")

    demo: bool = Field(False, description="Seed the demo catalog, agents and kiosk.")
    demo_load_agents: int = Field(0, ge=0, le=100_000, description="With demo: also seed "
                                  "agents load-agent-1..N (every skill, password demo) for "
                                  "load tests and benchmarks.")
    demo_load_kiosks: int = Field(0, ge=0, le=100_000, description="With demo: also seed "
                                  "kiosks load-kiosk-1..N (the token is the id) for load "
                                  "tests and benchmarks.")

    @model_validator(mode="after")
    def _relay_needs_turn(self) -> Settings:
        """A relay-only call without a TURN server can never get media: refuse to start."""
        if ((self.ice_transport_policy == "relay" or self.relay_kiosks)
                and not (self.turn_urls and self.turn_secret)):
            raise ValueError("ice_transport_policy 'relay' and relay_kiosks need turn_urls "
                             "and turn_secret")
        return self

    @field_validator("routing_partitions")
    @classmethod
    def _routers_readable(cls, value: list[str]) -> list[str]:
        RouterMap(value)  # raises RouterSpecError (a ValueError) with the reason
        return value

    @field_validator("stun_urls", "turn_urls", "relay_kiosks", "screen_url_allowlist",
                     "routing_partitions", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """Environment values are comma-separated (or a JSON list)."""
        if isinstance(value, str) and value.strip().startswith("["):
            return json.loads(value)
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("CLOUD_AGENT_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'cloud-agent.db').resolve()}"
