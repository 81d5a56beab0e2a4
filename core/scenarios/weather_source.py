"""The weather assistant's only power: `get_weather(city)`, a Python function tool (no code execution).

Two sources behind one function: Open-Meteo (public, keyless) over httpx with a timeout when online, and
an offline source that answers every city the same way every time, for the demo provider and for tests.
Whatever goes wrong (timeout, HTTP error, unknown city, bad JSON) comes back to the agents as one line of
text starting with "ERROR:", so they can recover or explain; the chat never crashes on it."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

import httpx2 as httpx

from .. import contract

ERROR_PREFIX = contract.TOOL_ERROR_PREFIX  # the tool span is marked failed on it
DEFAULT_TIMEOUT_S = 8.0
GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"

# Cities the speaker selector recognises without asking a model (a weather question naming one of these
# goes straight to the weather assistant). Any other city still works; the model then picks the speaker.
KNOWN_CITIES = (
    "Amsterdam",
    "Athens",
    "Auckland",
    "Austin",
    "Bangkok",
    "Barcelona",
    "Beijing",
    "Berlin",
    "Bogota",
    "Boston",
    "Buenos Aires",
    "Cairo",
    "Cape Town",
    "Chicago",
    "Copenhagen",
    "Delhi",
    "Dubai",
    "Dublin",
    "Hong Kong",
    "Istanbul",
    "Jakarta",
    "Lagos",
    "Lehi",
    "Lima",
    "Lisbon",
    "London",
    "Los Angeles",
    "Madrid",
    "Melbourne",
    "Mexico City",
    "Miami",
    "Montreal",
    "Moscow",
    "Mumbai",
    "Nairobi",
    "New York",
    "Oslo",
    "Paris",
    "Prague",
    "Provo",
    "Rome",
    "Salt Lake City",
    "San Francisco",
    "Santiago",
    "Sao Paulo",
    "Seattle",
    "Seoul",
    "Singapore",
    "Stockholm",
    "Sydney",
    "Tokyo",
    "Toronto",
    "Vancouver",
    "Vienna",
    "Warsaw",
    "Zurich",
)
_KNOWN = {c.lower(): c for c in KNOWN_CITIES}
_KNOWN_PATTERN = re.compile(r"\b(" + "|".join(re.escape(c) for c in sorted(KNOWN_CITIES, key=len, reverse=True)) + r")\b", re.IGNORECASE)

# WMO weather interpretation codes, as Open-Meteo reports them
WMO = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "rime fog",
    51: "light drizzle",
    53: "drizzle",
    55: "heavy drizzle",
    61: "light rain",
    63: "rain",
    65: "heavy rain",
    71: "light snow",
    73: "snow",
    75: "heavy snow",
    80: "rain showers",
    81: "heavy showers",
    82: "violent showers",
    95: "thunderstorm",
    96: "thunderstorm with hail",
    99: "thunderstorm with heavy hail",
}


def known_cities_in(text: str) -> list[str]:
    """Known city names in a text, in order, each once, spelled as in KNOWN_CITIES."""
    found: list[str] = []
    for match in _KNOWN_PATTERN.finditer(text or ""):
        city = _KNOWN[match.group(1).lower()]
        if city not in found:
            found.append(city)
    return found


@dataclass(frozen=True)
class Weather:
    city: str
    temperature_c: float
    conditions: str
    wind_kmh: float
    source: str

    def sentence(self) -> str:
        return f"{self.city}: {self.temperature_c:.0f} °C, {self.conditions}, wind {self.wind_kmh:.0f} km/h (source: {self.source})."


class WeatherError(Exception):
    """A weather source failed; the message is for the agents (and the user)."""


class WeatherSource(Protocol):
    name: str

    async def current(self, city: str) -> Weather: ...


def clean_city(city: Any) -> str:
    text = re.sub(r"\s+", " ", str(city or "")).strip(" .,!?;:'\"")
    if not text:
        raise WeatherError("no city was given")
    if len(text) > 80:
        raise WeatherError("that does not look like a city name (too long)")
    return text


class OfflineWeather:
    """Deterministic weather for any city name: the same city gets the same weather, every time, offline."""

    name = "offline demo source"
    CONDITIONS = ("clear sky", "partly cloudy", "overcast", "light rain", "rain showers", "snow", "fog")

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s

    async def current(self, city: str) -> Weather:
        city = clean_city(city)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        digest = hashlib.sha256(city.lower().encode()).digest()
        conditions = self.CONDITIONS[digest[0] % len(self.CONDITIONS)]
        temperature = -5 + digest[1] % 36 - (8 if conditions == "snow" else 0)
        return Weather(
            city=_KNOWN.get(city.lower(), city.title()),
            temperature_c=float(temperature),
            conditions=conditions,
            wind_kmh=float(digest[2] % 40),
            source=self.name,
        )


class OpenMeteoWeather:
    """Open-Meteo's geocoding and forecast APIs (no key). Addresses are parameters so tests can point them at
    a local server."""

    name = "Open-Meteo"

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, geocoding_url: str = GEOCODING_URL, forecast_url: str = FORECAST_URL):
        self.timeout_s, self.geocoding_url, self.forecast_url = timeout_s, geocoding_url, forecast_url

    async def current(self, city: str) -> Weather:
        city = clean_city(city)
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                found = await client.get(self.geocoding_url, params={"name": city, "count": 1, "format": "json"})
                found.raise_for_status()
                places = found.json().get("results") or []
                if not places:
                    raise WeatherError(f"no place called {city!r} was found")
                place = places[0]
                reply = await client.get(
                    self.forecast_url,
                    params={
                        "latitude": place["latitude"],
                        "longitude": place["longitude"],
                        "current": "temperature_2m,weather_code,wind_speed_10m",
                    },
                )
                reply.raise_for_status()
                now = reply.json()["current"]
        except WeatherError:
            raise
        except httpx.TimeoutException as exc:
            raise WeatherError(f"the weather service did not answer within {self.timeout_s:g} s") from exc
        except httpx.HTTPStatusError as exc:
            raise WeatherError(f"the weather service answered HTTP {exc.response.status_code}") from exc
        except httpx.HTTPError as exc:
            raise WeatherError(f"the weather service could not be reached ({type(exc).__name__})") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise WeatherError("the weather service sent an answer that could not be read") from exc
        name = place.get("name") or city
        country = place.get("country")
        return Weather(
            city=f"{name}, {country}" if country else name,
            temperature_c=float(now["temperature_2m"]),
            conditions=WMO.get(int(now.get("weather_code", -1)), "unknown conditions"),
            wind_kmh=float(now.get("wind_speed_10m") or 0),
            source=self.name,
        )


def source_for(kind: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> WeatherSource:
    if kind == "offline":
        return OfflineWeather()
    if kind == "open-meteo":
        return OpenMeteoWeather(timeout_s=timeout_s)
    raise ValueError(f"Unknown weather source {kind!r}: use 'offline' or 'open-meteo'.")


def weather_function(source: WeatherSource, timeout_s: float = DEFAULT_TIMEOUT_S) -> Callable[[str], Awaitable[str]]:
    """`get_weather(city)` for a FunctionTool: never raises; failures are an "ERROR: ..." line for the agents."""

    async def get_weather(city: str) -> str:
        """Current weather for a city: temperature in °C, conditions and wind."""
        try:
            weather = await asyncio.wait_for(source.current(city), timeout=timeout_s)
            return weather.sentence()
        except asyncio.TimeoutError:
            return f"{ERROR_PREFIX} the weather for {str(city)[:80]} did not arrive within {timeout_s:g} s."
        except WeatherError as exc:
            return f"{ERROR_PREFIX} could not get the weather for {str(city)[:80]}: {exc}."
        except Exception as exc:  # noqa: BLE001 - a bug in a source is still only an answer the agents read
            return f"{ERROR_PREFIX} the weather source failed ({type(exc).__name__})."

    return get_weather
