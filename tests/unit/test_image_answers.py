"""Spawns asking the engine about one image share the question (pure logic: the engine's
answer is stubbed, counted)."""

import asyncio

from hubdist.engine import Engine


class CountingEngine(Engine):
    def __init__(self, present: bool = True):
        super().__init__()
        self.asked, self.present = 0, present

    async def _run(self, method, *args, **kwargs):
        assert method == "inspect_image"
        self.asked += 1
        await asyncio.sleep(0.01)  # the engine takes a while, as in a storm
        return {"Id": "sha256:abc"} if self.present else None


def test_fifty_spawns_asking_at_once_make_one_call():
    engine = CountingEngine()

    async def storm():
        return await asyncio.gather(*(engine.inspect_image("lab:1") for _ in range(50)))

    answers = asyncio.run(storm())
    assert engine.asked == 1 and all(a == {"Id": "sha256:abc"} for a in answers)


def test_an_image_found_is_asked_again_after_a_moment_and_after_a_pull():
    engine = CountingEngine()

    async def run():
        await engine.inspect_image("lab:1")
        await engine.inspect_image("lab:1")
        assert engine.asked == 1  # within the moment: shared
        engine._image_answers.keep_for = 0.0  # the moment has passed
        await engine.inspect_image("lab:1")
        assert engine.asked == 2
        engine._image_answers.keep_for = 60.0
        engine._pulls.pull = _no_pull
        await engine.pull("lab:1")
        await engine.inspect_image("lab:1")
        assert engine.asked == 3  # a pull may have changed the image

    asyncio.run(run())


async def _no_pull(image, on_progress=None):
    return None


def test_an_image_not_found_is_asked_about_again_at_once():
    engine = CountingEngine(present=False)

    async def run():
        assert await engine.inspect_image("lab:1") is None
        assert await engine.inspect_image("lab:1") is None

    asyncio.run(run())
    assert engine.asked == 2  # a pull or a build may bring it any moment
