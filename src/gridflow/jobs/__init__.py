"""Asynchronous data services: the resumable job (submit, await, download) and the clients of the
services that work that way (the Copernicus data stores, NASA Harmony) with Earthdata Login."""
