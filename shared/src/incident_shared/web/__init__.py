"""aiohttp pieces every HTTP-serving service uses: health endpoints, metrics, JSON errors."""
