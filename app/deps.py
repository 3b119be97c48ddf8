"""Dependency aliases: how routes reach the objects ``create_app`` built."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.services import Services


def _get_services(request: Request) -> Services:
    """Read the app's services from ``app.state`` (set by ``create_app``)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_get_services)]
